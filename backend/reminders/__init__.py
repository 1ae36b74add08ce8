"""Push reminders: devices, the schedule from the protocol, dispatch through FCM."""
