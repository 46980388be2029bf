from portalkit.service import run
from services.cases.service import CasesSettings, build

run(build, CasesSettings)
