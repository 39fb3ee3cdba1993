"""SideTrack: self-hosted taste analytics for your own music listening."""

__version__ = "0.1.0"
