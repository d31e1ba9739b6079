"""The web console at /console/: server-rendered pages over the API's services, authorised by its policies."""
