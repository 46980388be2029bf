from portalkit.runtime import run_service
from services.identity.service import start

run_service("identity", start)
