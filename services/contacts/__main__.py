from portalkit.runtime import run_service
from services.contacts.service import start

run_service("contacts", start)
