"""Attachment downloads: `GET /attachments/<id>?t=<ticket>` with the viewer's `Authorization: Bearer`.

The ticket in the URL (Attachment.url) is short-lived and was issued by the cases service to the
viewer who read the case; the service streams the file only to that same verified caller, while
they may still see the case, before the ticket expires. The gateway only relays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import grpc
import grpc.aio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.clients import ServiceClients
from gateway.errors import from_rpc_error
from portalkit.grpc_client import traced_metadata
from protos.cases.v1 import cases_pb2 as pb

HTTP_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "FAILED_PRECONDITION": 410}


def _error(message: str, code: str, reason: str = "") -> JSONResponse:
    extensions = {"code": code, **({"reason": reason} if reason else {})}
    body = {"errors": [{"message": message, "extensions": extensions}]}
    return JSONResponse(body, status_code=HTTP_STATUS.get(code, 503 if code == "UNAVAILABLE" else 400))


def attachment_route(clients: ServiceClients) -> Route:
    async def download(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return _error("log in first: send an Authorization: Bearer <access token> header", "UNAUTHENTICATED")
        token = authorization.removeprefix("Bearer ").strip()
        message = pb.DownloadAttachmentRequest(id=request.path_params["id"], ticket=request.query_params.get("t", ""))
        call = clients.stubs["cases"].DownloadAttachment(
            message, metadata=traced_metadata((("authorization", f"Bearer {token}"),)), timeout=clients.deadline
        )
        try:
            first = await call.read()
        except grpc.RpcError as error:
            mapped = from_rpc_error(error, "cases")
            extensions = mapped.extensions or {}
            return _error(mapped.message, str(extensions.get("code")), str(extensions.get("reason", "")))
        if first is grpc.aio.EOF:
            return _error("no such attachment", "NOT_FOUND")

        async def chunks() -> AsyncIterator[bytes]:
            yield first.content
            while (chunk := await call.read()) is not grpc.aio.EOF:
                yield chunk.content

        headers = {
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(first.filename)}",
            "Content-Length": str(first.size),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        }
        return StreamingResponse(chunks(), media_type=first.content_type, headers=headers)

    return Route("/attachments/{id}", download, methods=["GET"])
