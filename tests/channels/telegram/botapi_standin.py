"""A local stand-in for Telegram's Bot API over real HTTP, so aiogram's own client code runs.

It serves getMe, getUpdates (queued updates, honouring offset), sendMessage,
editMessageReplyMarkup, answerCallbackQuery, getFile and file downloads, setWebhook and
deleteWebhook; records every call; and can be told to answer 403 (blocked) or 429 (slow
down) for a chat. Runs an aiohttp app on a free loopback port in a thread of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

TOKEN = "123456789:TEST-standin-token_0"
BOT = {"id": 123456789, "is_bot": True, "first_name": "Okno", "username": "okno_test_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _decode(value: str) -> Any:
    """aiogram sends nested values (reply_markup, allowed_updates) as JSON strings."""
    if value[:1] in "[{":
        return json.loads(value)
    return value


class BotApiStandin:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.files: dict[str, tuple[str, bytes, int]] = {}
        self.expired: set[str] = set()  # file paths getFile names but the download answers 404
        self.refusals: dict[int, tuple[int, str]] = {}
        self.throttled: dict[int, list[int]] = {}
        self.webhook: dict[str, Any] | None = None
        self._ids = itertools.count(5000)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> str:
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("Bot API stand-in did not start")
        return self.base_url

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    # --- what tests tell it --------------------------------------------------------------

    def queue_update(self, update: dict[str, Any]) -> None:
        with self._lock:
            self.updates.append(update)

    def add_file(self, file_id: str, data: bytes, path: str, size: int | None = None) -> None:
        """A file getFile knows; `size` may claim more than the bytes (Telegram's 20 MB cap)."""
        self.files[file_id] = (path, data, len(data) if size is None else size)

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every sendMessage to the chat is a 403."""
        self.refuse(chat_id, 403, "Forbidden: bot was blocked by the user")

    def refuse(self, chat_id: int, status: int, description: str) -> None:
        self.refusals[chat_id] = (status, description)

    def throttle(self, chat_id: int, *retry_after: int) -> None:
        """Answer 429 with these retry_after values, one per sendMessage to the chat."""
        self.throttled[chat_id] = list(retry_after)

    # --- what tests read -----------------------------------------------------------------

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        """sendMessage calls that reached the chat, in order, with the message id given."""
        return [
            p for p in self.calls_of("sendMessage") if int(p["chat_id"]) == chat_id and "_id" in p
        ]

    def transcript(self, chat_id: int) -> list[str]:
        """The chat as the user sees it: each bot message, with its buttons in brackets."""
        lines = []
        for params in self.sent(chat_id):
            markup = params.get("reply_markup") or {}
            buttons = [b["text"] for row in markup.get("inline_keyboard", []) for b in row]
            lines.append(params["text"] + (f" [{' | '.join(buttons)}]" if buttons else ""))
        return lines

    # --- the HTTP side -------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        form = await request.post() if request.can_read_body else {}
        params = {k: _decode(str(v)) for k, v in form.items()}
        call = Call(method, params)
        self.calls.append(call)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        response: web.Response = await handler(params)
        return response

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        for stored_path, data, _size in self.files.values():
            if stored_path == path and path not in self.expired:
                return web.Response(body=data)
        return web.Response(status=404, text="Not Found")

    async def _m_getMe(self, params: dict[str, Any]) -> web.Response:
        return _ok(BOT)

    async def _m_getUpdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.2)
        while True:
            with self._lock:
                self.updates = [u for u in self.updates if u.get("update_id", 0) >= offset]
                ready = self.updates[: int(params.get("limit") or 100)]
            if ready or time.monotonic() >= deadline:
                return _ok(ready)
            await asyncio.sleep(0.02)

    async def _m_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        if chat_id in self.refusals:
            return _error(*self.refusals[chat_id])
        waits = self.throttled.get(chat_id)
        if waits:
            seconds = waits.pop(0)
            return _error(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        params["_id"] = next(self._ids)
        message = {
            "message_id": params["_id"],
            "from": BOT,
            "chat": {"id": chat_id, "type": "private"},
            "date": int(time.time()),
            "text": params["text"],
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return _ok(message)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_getFile(self, params: dict[str, Any]) -> web.Response:
        found = self.files.get(str(params["file_id"]))
        if found is None:
            return _error(400, "Bad Request: invalid file_id")
        path, _data, size = found
        if size > 20 * 1024 * 1024:
            return _error(400, "Bad Request: file is too big")
        info = {"file_id": params["file_id"], "file_unique_id": "u" + path, "file_size": size}
        return _ok({**info, "file_path": path})

    async def _m_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = params
        return _ok(True)

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = None
        return _ok(True)
