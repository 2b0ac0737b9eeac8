"""Grading a class: every student's submission, resumably, into one output folder.

runner.py     the batch: what changed is graded in parallel, each result saved at once
entries.py    the class as it arrives (a folder or zip, one entry per student), roster
store.py      results/<id>.json and feedback/<id>.txt, written atomically
records.py    a student's result: a dataclass in memory, JSON on disk
summary.py    the class at a glance (summary.json)
gradebook.py  gradebook.csv, plain or for Canvas
"""
