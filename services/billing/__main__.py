from portalkit.service import run
from services.billing.service import BillingSettings, build

run(build, BillingSettings)
