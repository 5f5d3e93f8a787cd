"""Write weir handler plugins in Python.

A handler is a plain function, exported with one decorator:

    from weir_plugin import handler, emit, new_event, log, state

    @handler
    def handle(event):
        signup = event.json()
        seen = state.get_json("signups", 0)
        state.set_json("signups", seen + 1)
        log.info(f"welcome {signup['user']}")
        return emit(new_event("email.welcome", signup["user"], subject=signup["user"]))

The function returns `ack()`, `emit(...)`, `retry_later(ms)` or `fail(reason)`;
returning None acknowledges. Raising `Fail` (or any exception) fails the
delivery with the exception's message, so a bad event goes to the dead letters
with the reason. Emitted events and state writes are buffered by the host and
committed together with the delivery, so they take effect exactly once.

Build with componentize-py (`weir plugin build DIR` runs it): the module
`wit_world` it imports is generated from weir's `wit/plugin.wit`.
"""

import json
import sys

from wit_world import exports
from wit_world.imports import config as _config
from wit_world.imports import log as _log
from wit_world.imports import state as _state
from wit_world.imports import types

__all__ = [
    "Event", "Fail", "ack", "emit", "retry_later", "fail", "new_event",
    "handler", "log", "state", "config",
]

JSON = "application/json"


class Fail(Exception):
    """Raised from a handler: the delivery fails with this message."""


class Event:
    """The incoming event: CloudEvents attributes, `data` as bytes, and helpers."""

    def __init__(self, raw):
        self.id = raw.id
        self.source = raw.source
        self.type = raw.type
        self.subject = raw.subject
        self.time = raw.time
        self.datacontenttype = raw.datacontenttype
        self.data = raw.data
        self.tenant = raw.tenant
        self.extensions = dict(raw.extensions)
        self.attempt = raw.attempt

    def json(self):
        """`data` parsed as JSON; invalid JSON fails the delivery, naming the type."""
        try:
            return json.loads(self.data)
        except ValueError as error:
            raise Fail(f"invalid {self.type} data: {error}") from None

    def extension(self, name):
        """The extension attribute `name` (such as `partitionkey`), or None."""
        return self.extensions.get(name)


def to_json(value):
    """Compact JSON, as every weir SDK writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def new_event(type, data=None, *, subject=None, source=None, extensions=None, raw=None,
              datacontenttype=None):
    """An event to emit. `data` is sent as JSON; pass `raw=bytes` (and a
    `datacontenttype`) to send other content. The host picks the source if None."""
    if raw is None:
        raw, datacontenttype = to_json(data), datacontenttype or JSON
    return types.NewEvent(
        type=type,
        source=source,
        subject=subject,
        datacontenttype=datacontenttype,
        data=bytes(raw),
        extensions=list((extensions or {}).items()),
    )


def ack():
    """Done, nothing to emit."""
    return types.Outcome_Ack()


def emit(*events):
    """Done; route these events next (committed with the delivery)."""
    return types.Outcome_Emit(list(events))


def retry_later(ms):
    """Not now: deliver again after at least `ms` milliseconds."""
    return types.Outcome_RetryLater(int(ms))


def fail(reason):
    """Give up on this event: it goes to the dead letters with `reason`."""
    return types.Outcome_Fail(str(reason))


def handler(function):
    """Exports `function(event) -> outcome` as the component's handler."""

    class Handler(exports.Handler):
        def handle(self, raw):
            try:
                outcome = function(Event(raw))
            except Exception as error:  # any failure is the event's, not the host's
                return fail(str(error) or type(error).__name__)
            return ack() if outcome is None else outcome

    # componentize-py looks for `Handler` in the app module.
    sys.modules[function.__module__].Handler = Handler
    return function


class _Log:
    """Logging into the host's structured log, which adds the plugin and event id."""

    Level = _log.Level

    def log(self, level, message, context=""):
        _log.log(level, context, str(message))

    def debug(self, message):
        self.log(_log.Level.DEBUG, message)

    def info(self, message):
        self.log(_log.Level.INFO, message)

    def warn(self, message):
        self.log(_log.Level.WARN, message)

    def error(self, message):
        self.log(_log.Level.ERROR, message)


class _State:
    """Key/value state, scoped to this plugin and the event's tenant. Writes
    are committed with the outcome; reads see the handler's own writes."""

    def get(self, key):
        return _state.get(key)

    def set(self, key, value):
        _state.set(key, bytes(value))

    def delete(self, key):
        _state.delete(key)

    def get_json(self, key, default=None):
        raw = _state.get(key)
        if raw is None:
            return default
        try:
            return json.loads(raw)
        except ValueError as error:
            raise Fail(f"invalid JSON in state key {key}: {error}") from None

    def set_json(self, key, value):
        _state.set(key, to_json(value))


class _Config:
    """The plugin's configuration values from weir.toml or its manifest."""

    def get(self, key, default=None):
        value = _config.get(key)
        return default if value is None else value

    def all(self):
        return dict(_config.get_all())


log = _Log()
state = _State()
config = _Config()
