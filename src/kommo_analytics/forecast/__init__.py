"""The revenue forecast, pure: a history of leads and stage stays and a "now" in, P10/P50/P90
ranges out (no I/O, no clock). The method is described for people in docs/forecast.md and, piece
by piece, in the modules' docstrings."""

from kommo_analytics.forecast.backtest import backtest
from kommo_analytics.forecast.engine import forecast
from kommo_analytics.forecast.inputs import ForecastInputError, Goal, History
from kommo_analytics.forecast.result import Backtest, Forecast

__all__ = ["Backtest", "Forecast", "ForecastInputError", "Goal", "History", "backtest", "forecast"]
