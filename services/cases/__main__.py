from portalkit.runtime import run_service
from services.cases.service import start

run_service("cases", start)
