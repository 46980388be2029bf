from portalkit.service import run
from services.identity.service import IdentitySettings, build

run(build, IdentitySettings)
