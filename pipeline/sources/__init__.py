"""Where snapshots come from: recorded files, the raw archive, the live feeds.

Every payload format is parsed (``parsers``) and normalized into the one
station record or rejected with a reason (``normalize``); ``recorded`` finds
and orders recorded files for replay (``payload`` sniffs their content, a
folder's ``manifest`` says how its file names carry time, ``sequence`` judges
its answers in order: re-reads, backwards clocks, descriptions left out) and
rebuilds the reference tables, ``stationids`` gives the GBFS ids no
station_information file knows their code (by position and name), ``names``
repairs and compares station names, ``archive`` keeps every live poll as it
came, ``feeds`` polls the real GBFS
feed and the Paris open-data API.

Imports from the project: clock, durable, record, settings.
"""
