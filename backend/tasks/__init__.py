"""The app's home screen: what is due today from the protocol's schedule, and own trends."""
