"""Where listens come from: ListenBrainz exports (and, later, the ListenBrainz and Last.fm APIs)."""
