"""``velib compare``: two snapshot sets, stations and availability, said when.

``load`` reads each side (files, archives, processed tables, git revisions, Delta
versions),
``stations`` says what changed station by station (renumbered stations included),
``when`` says when each side was taken and what compares like with like,
``report`` writes the metrics, report and figure, ``job`` runs it.

Imports from the project: clock, delta, record, research, settings, sources, vocabulary.
"""
