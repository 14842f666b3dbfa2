"""The modes regress's options take, declared once: the plugin's and the CLI's choices, the
session's checks and the stores read them from here."""

from __future__ import annotations

from typing import Literal, get_args

UpdateMode = Literal["none", "missing", "failed", "all"]  # --golden-update; `regress refresh --only`
UPDATE_MODES: tuple[str, ...] = get_args(UpdateMode)
REFRESH_MODES: tuple[str, ...] = tuple(m for m in UPDATE_MODES if m != "none")  # a refresh writes something

PublishTarget = Literal["hub", "git"]  # how a Hub store publishes: the Hub API, or git over HTTP
PUBLISH_TARGETS: tuple[str, ...] = get_args(PublishTarget)
