"""Load, soak and reliability reporting for tierfs: ``make soak`` and ``make reliability-table``.

Not part of ``make test``: a soak runs for minutes. Its figures, and the counts of every
fault-injection test, are JSON records under ``build/reliability/``.
"""
