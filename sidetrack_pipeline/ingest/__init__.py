"""Writing what the sources read into the database: catalogue rows and listens."""
