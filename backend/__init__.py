"""LimbTrack: the backend of a patient-reported outcome tracker for limb-ischemia trials."""
