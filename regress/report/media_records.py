"""A case record's report media (``media``: what :mod:`regress.report.assets` wrote for it) as
the page reads them: typed, read-only records (:mod:`regress.report.records` holds the rest).

Their schema is :class:`regress.models.ReportMedia`'s (results.schema.json, strict), which
:func:`regress.report.results.read_results` checks a file against; a document made in this
process has them from the writer itself, with the audio envelopes as tuples (shared, not
copied: regress.report.results.case_record).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..json_record import Record

__all__ = ["AudioTrack", "CaseMedia", "ImageTrack", "MeshTrack", "VideoTrack"]



@dataclass(frozen=True)
class ImageTrack(Record):
    """``media.image`` (regress.models.ImageMedia)."""

    height: int | None = None
    width: int | None = None
    identical: bool = False
    diff_peak: int | None = None


@dataclass(frozen=True)
class VideoTrack(Record):
    """``media.video`` (regress.models.VideoMedia): frame folders and counts per label."""

    frames: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    fps: float | None = None
    dirs: dict[str, str] = field(default_factory=dict)
    height: int | None = None
    width: int | None = None
    identical: bool = False
    diff_peak: int | None = None


@dataclass(frozen=True)
class AudioTrack(Record):
    """``media.audio`` (regress.models.AudioMedia): its format and waveform envelopes per label."""

    sample_rate: int | None = None
    channels: int | None = None
    samples: int | None = None
    waveform: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    identical: bool = False


@dataclass(frozen=True)
class MeshTrack(Record):
    """``media.mesh`` (regress.models.MeshMedia): the render grid and the error's scale."""

    height: int | None = None
    width: int | None = None
    views: int | None = None
    vertices: dict[str, int] = field(default_factory=dict)
    faces: dict[str, int] = field(default_factory=dict)
    identical: bool = False
    error_peak: float | None = None


@dataclass(frozen=True)
class CaseMedia(Record):
    """``media``: any of the four tracks."""

    image: ImageTrack | None = None
    video: VideoTrack | None = None
    audio: AudioTrack | None = None
    mesh: MeshTrack | None = None

    _nested = {"image": ImageTrack, "video": VideoTrack, "audio": AudioTrack, "mesh": MeshTrack}
