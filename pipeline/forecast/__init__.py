"""Forecasts of every station's bikes and docks at +15, +30 and +60 minutes.

What riders ask of a bike-share network is whether a bike (a dock) will be
there when they arrive. This package learns that from the stream's tables of
a recording, with features from the past only, and scores it honestly:

* ``observations`` turns ``status/`` and the poll log ``polls/`` into one row
  per station and poll that listed it (its state then), the unit everything
  here counts in; ``calendar`` gives Paris day types (dates and hours: :mod:`pipeline.clock`);
* ``history`` and ``features`` build past-only feature rows for
  (station, issued_at, horizon), with a leakage guard; ``climatology`` is the
  station's profile by Paris hour and day type; ``baselines`` holds
  persistence, climatology, persistence plus the profile's change, smoothed
  persistence of P(empty)/P(full) and the change quantiles;
* ``lgbm`` is the one place LightGBM is imported and its threads are set;
  ``model`` fits and applies the boosters; ``bundle`` stores a trained model
  (one member per rolling-origin cut-off) as one byte-stable file;
* ``targets`` says which targets were observed (a poll near ``target_at``),
  ``metrics`` scores them, ``skills`` gathers a group's scores with the
  intervals of ``bootstrap`` (blocks of day x station), ``serving`` decides
  where persistence is served instead of the model; ``train``, ``predict``
  and ``evaluate`` are the stages behind ``velib forecast``; ``live``
  appends forecasts while ``velib run --live`` collects.

Forecasting reads tables with pandas and pyarrow: it never starts Spark.

Imports from the project: clock, delta, durable, lifecycle, research, settings, vocabulary.
"""
