"""Declarative features: lags, rolling statistics, calendar fields.

A :class:`FeatureSet` is plain data (``to_dict``/``from_dict``, or the short syntax of a
model spec through :meth:`FeatureSet.parse`). One computation serves both ends of a
model's life: :meth:`FeatureSet.transform` builds the training matrix of a whole panel,
and :meth:`FeatureSet.transform_last` the row of the next point of one series at serving
(:meth:`FeatureSet.transform_next` does it for every series of a panel at once). They
agree bit for bit, and a row only ever reads earlier points of its own series.

Lags and windows count grid steps. Rolling statistics cover the ``window`` values ending
``lag`` steps (default 1) before the row, skip missing values, and are NaN with fewer
than ``min_periods`` values (default half the window). Calendar features are integers
read from the row's time in **UTC**: ``hour_of_day`` 0..23, ``day_of_week`` 0 = Monday
.. 6 = Sunday, ``minute_of_hour`` 0..59.

>>> import numpy as np
>>> from modelphase.frame import Panel
>>> fs = FeatureSet.parse({"lags": [1, 2], "rolling_mean": [2], "calendar": ["hour_of_day"]})
>>> fs.names, fs.max_lookback
(['lag_1', 'lag_2', 'rolling_mean_2', 'hour_of_day'], 2)
>>> hour = 3_600 * 10**9
>>> ds = np.arange(4, dtype=np.int64) * hour
>>> y = np.array([1.0, 2.0, np.nan, 4.0])
>>> panel = Panel.from_series([("a", ds, y)], step=hour)
>>> x, names = fs.transform(panel)
>>> x
array([[nan, nan, nan, 0. ],
       [1. , nan, 1. , 1. ],
       [2. , 1. , 1.5, 2. ],
       [nan, 2. , 2. , 3. ]])
>>> fs.transform_last(ds[:3], y[:3], int(ds[3]))
array([nan,  2.,  2.,  3.])
>>> FeatureSet.from_dict(fs.to_dict()) == fs
True
"""

from modelphase.features._set import FeatureSet
from modelphase.features._specs import (
    DayOfWeek,
    Feature,
    HourOfDay,
    Lag,
    MinuteOfHour,
    RollingMax,
    RollingMean,
    RollingMin,
    RollingStd,
    feature_from_dict,
)

__all__ = [
    "DayOfWeek",
    "Feature",
    "FeatureSet",
    "HourOfDay",
    "Lag",
    "MinuteOfHour",
    "RollingMax",
    "RollingMean",
    "RollingMin",
    "RollingStd",
    "feature_from_dict",
]
