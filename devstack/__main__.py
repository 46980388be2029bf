"""`python -m devstack`: the embedded stack with demo data and GraphiQL, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from devstack.embedded import start_stack
from portalkit import config
from portalkit.telemetry import component, setup_logging, setup_telemetry
from services.billing.demo import load_demo as load_demo_billing
from services.cases.demo import load_demo as load_demo_cases
from services.contacts.demo import load_demo as load_demo_contacts
from services.identity.demo import DEMO_PASSWORD, load_demo


async def main() -> None:
    settings = config.PortalSettings()
    # the newcomer's run: reflection on unless PORTAL_GRPC_REFLECTION says otherwise
    stack = await start_stack(
        {"grpc_reflection": os.environ.get("PORTAL_GRPC_REFLECTION", "true")},
        fixed_ports=True,
        gateway_port=settings.gateway_port,
    )
    with component("portal-identity"):
        logins = await load_demo(stack.services["identity"].domain)
    accounts = {login.account: login.account_id for login in logins if login.account_id}
    with component("portal-contacts"):
        await load_demo_contacts(stack.services["contacts"].domain, accounts)
    with component("portal-cases"):
        await load_demo_cases(stack.services["cases"].domain, logins)
    with component("portal-billing"):
        await load_demo_billing(stack.services["billing"].domain, accounts)
    bus_kind = type(stack.buses[0]).__name__
    mail = f"SMTP {settings.smtp_url}" if settings.smtp_url else f"folder {settings.mail_dir}"
    lines = [
        "",
        "Customer Service Portal: embedded stack is up",
        f"  GraphiQL:  {stack.gateway_url}/graphql",
        "  services:  " + ", ".join(f"{n}={stack.address(n)}" for n in stack.services),
        f"  events:    {'RabbitMQ ' + settings.amqp_url if bus_kind == 'RabbitBus' else 'in-process bus (RabbitMQ unreachable)'}",
        f"  mail:      {mail}",
        f"  inbound:   smtp://127.0.0.1:{stack.services['cases'].listener('inbound').port} (email-to-case)",
        f"  demo logins (password {DEMO_PASSWORD!r}):",
        *[f"    {login.email:<22} {login.role:<14} {login.account}" for login in logins],
        "",
    ]
    print("\n".join(lines), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):
        await stack.stop()


if __name__ == "__main__":
    setup_logging()
    setup_telemetry("portal-embedded")
    asyncio.run(main())
