"""The clone carries its own docs: the README points at nothing outside it, and the configuration
reference names every variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from devstack.embedded import SERVICES
from portalkit import config
from services.identity.bootstrap import BootstrapAdmin

ROOT = Path(__file__).resolve().parents[1]


def test_readme_points_only_inside_the_clone():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in readme
    for path in re.findall(r"`((?:docs|contract|deploy|scripts)/[\w./-]+)`", readme):
        assert (ROOT / path).exists(), path


def test_configuration_reference_lists_every_variable():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    names = {f"PORTAL_{field.upper()}" for field in config.PortalSettings.model_fields}
    for _, settings_class in SERVICES.values():
        names |= {f"PORTAL_{field.upper()}" for field in settings_class.model_fields}
    names |= {f"PORTAL_BOOTSTRAP_ADMIN_{field.upper()}" for field in BootstrapAdmin.model_fields}
    for service in config.SERVICES:
        names |= {f"PORTAL_{service.upper()}_GRPC_PORT", f"PORTAL_{service.upper()}_MONGODB_URI"}
    names.discard("PORTAL_IDENTITY_GRPC_ADDR")  # listed as PORTAL_<SERVICE>_GRPC_ADDR
    missing = sorted(n for n in names if n not in doc and n.replace("IDENTITY", "<SERVICE>") not in doc)
    generic = (
        {n for n in missing if re.fullmatch(r"PORTAL_[A-Z]+_MONGODB_URI", n)}
        if "PORTAL_<SERVICE>_MONGODB_URI" in doc
        else set()
    )
    assert sorted(set(missing) - generic) == []
