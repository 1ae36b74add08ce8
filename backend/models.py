"""Import every domain's models, so that Base.metadata knows all tables (Alembic, tests)."""

from backend.amputations.models import AmputationEvent
from backend.audit.models import AccessEvent, AuditEvent
from backend.auth.models import ActivationCode, AuthSession, AuthThrottle, AuthToken
from backend.diary.models import PainScore
from backend.flags.models import Flag
from backend.locks.models import DataLock
from backend.participants.models import Device, Participant
from backend.portal.models import PortalSession
from backend.reminders.models import PushDelivery, PushDevice, Reminder, ReminderSettings
from backend.staff.models import StaffUser, site_membership
from backend.studies.models import Cohort, ProtocolVersion, Site, Study, Visit
from backend.symptoms.models import SymptomReport
from backend.ulcers.models import PhotoAnalysis, PhotoReview, Ulcer, UlcerClosure, UlcerPhoto
from backend.walks.models import WalkTest

__all__ = [
    "AccessEvent",
    "ActivationCode",
    "AmputationEvent",
    "AuditEvent",
    "AuthSession",
    "AuthThrottle",
    "AuthToken",
    "Cohort",
    "DataLock",
    "Device",
    "Flag",
    "PainScore",
    "Participant",
    "PhotoAnalysis",
    "PhotoReview",
    "PortalSession",
    "ProtocolVersion",
    "PushDelivery",
    "PushDevice",
    "Reminder",
    "ReminderSettings",
    "Site",
    "StaffUser",
    "Study",
    "SymptomReport",
    "Ulcer",
    "UlcerClosure",
    "UlcerPhoto",
    "Visit",
    "WalkTest",
    "site_membership",
]
