"""Symptom and adverse-event reports from the patient; each one raises a nurse flag."""
