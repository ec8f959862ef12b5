"""The registry backend of the Store protocol: the distribution HTTP API, auth, uploads, and where
hosted registries differ (:mod:`.profile`). Importing it changes nothing outside hoist."""
