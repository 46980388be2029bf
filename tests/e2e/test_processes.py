"""A service as its own process (the docker-compose way): it serves health, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.mailbox import free_port


async def test_identity_runs_as_its_own_process_and_stops_gracefully(direct_amqp_url, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_IDENTITY_GRPC_PORT": str(port),
        "PORTAL_AMQP_URL": direct_amqp_url,
        "PORTAL_IDENTITY_MONGODB_URI": "memory://",
        "PORTAL_MAIL_DIR": str(tmp_path),
        "OTEL_TRACES_EXPORTER": "none",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.identity",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        status = None
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for _ in range(100):
                try:
                    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                    status = reply.status
                    break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
        assert status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=15) == 0
        _, stderr = await process.communicate()
        assert b'"level": "INFO"' in stderr and b"stopping" in stderr  # JSON logs
    finally:
        if process.returncode is None:
            process.kill()
