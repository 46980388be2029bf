"""Billing downloads over HTTP: invoice PDFs and usage exports, streamed from the billing service.

`GET /downloads/invoices/<id>?token=…` and `GET /downloads/usage-exports/<id>?token=…`, with the
user's `Authorization: Bearer <access token>`. The token in the URL is billing's short-lived signed
link, made for one user and one file; billing checks it against the verified caller (another user,
an altered or an expired link is refused), and its unary-stream methods are guarded like any other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.clients import ServiceClients
from gateway.errors import from_rpc_error
from protos.billing.v1 import billing_pb2 as pb

HTTP_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "BAD_USER_INPUT": 400, "UNAVAILABLE": 503}
METHODS = {"invoices": "DownloadInvoicePdf", "usage-exports": "DownloadUsageExport"}


def download_routes(clients: ServiceClients) -> list[Route]:
    async def download(request: Request) -> Response:
        kind, item_id = request.path_params["kind"], request.path_params["item_id"]
        method = METHODS.get(kind)
        authorization = request.headers.get("authorization", "")
        if method is None:
            return JSONResponse({"error": "not found", "code": "NOT_FOUND"}, status_code=404)
        if not authorization.startswith("Bearer "):
            return JSONResponse({"error": "log in first", "code": "UNAUTHENTICATED"}, status_code=401)
        call = getattr(clients.stubs["billing"], method)(
            pb.DownloadRequest(id=item_id, token=request.query_params.get("token", "")),
            metadata=(("authorization", authorization),),
            timeout=clients.deadline * 6,
        )
        stream: AsyncIterator[Any] = call.__aiter__()
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            return Response(b"", media_type="application/octet-stream")
        except grpc.RpcError as error:
            mapped = from_rpc_error(error, "billing")
            code = str((mapped.extensions or {}).get("code", "INTERNAL"))
            refusal = {"error": mapped.message, "code": code, "reason": (mapped.extensions or {}).get("reason", "")}
            return JSONResponse(refusal, status_code=HTTP_STATUS.get(code, 500))

        async def body() -> AsyncIterator[bytes]:
            yield first.data
            async for chunk in stream:
                yield chunk.data

        headers = {
            "Content-Disposition": f'attachment; filename="{first.filename}"',
            "Cache-Control": "private, no-store",
        }
        return StreamingResponse(body(), media_type=first.content_type, headers=headers)

    return [Route("/downloads/{kind}/{item_id}", download)]
