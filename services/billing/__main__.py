from portalkit.runtime import run_service
from services.billing.service import start

run_service("billing", start)
