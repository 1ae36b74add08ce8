"""Patient entries: the rules every entry shares and the pipeline an entry goes through."""
