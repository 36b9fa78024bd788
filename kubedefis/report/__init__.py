"""Layer 4 (test harness): grading reports, the défi × requirement matrix as JSON, HTML and JUnit XML.

`pytest_report` is the pytest plugin that records each test; `model` folds the
records into the matrix; `html` renders it; `console` prints progress for
`kubedefis grade`.
"""
