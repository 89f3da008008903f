"""The research layer: readers of the stream's tables, summaries, figures, maps, episodes.

What notebooks and ``velib compare`` use to read and draw the outputs:
``tables`` reads tables and writes byte-stable CSV/JSON/PNG, ``figures``,
``heatmaps`` and ``maps`` draw, ``stats`` gives the intervals and the ranking
rule, ``geo`` projects stations onto the arrondissements, ``episodes`` turns
alerts into empty/full episodes with bounds, ``observation`` says what the
poll log observed behind each of them. Never starts Spark: the stream's Delta
tables are read with ``deltalake`` (:mod:`pipeline.delta`).

Imports from the project: clock, delta, poll, record, settings, sources, vocabulary.
"""
