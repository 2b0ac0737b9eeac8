"""Grading a class: every student's submission, resumably, into one output folder.

runner.py     the batch: what changed is graded in parallel, each result saved at once
entries.py    the class as it arrives (a folder or zip, one entry per student)
canvas.py     a Canvas "Download Submissions" folder, grouped by Canvas user id
gradescope.py a Gradescope "Export Submissions" folder: submitters and times
roster.py     the roster (plain or a Canvas gradebook export) and staff overrides
store.py      results/<id>.json and feedback/<id>.txt and .md, written atomically
records.py    a student's result: a dataclass in memory, JSON on disk
summary.py    the class at a glance (summary.json)
gradebook.py  gradebook.csv with every column, and canvas.csv for Canvas's import
html.py       report.html: plots and the table of students
terminal.py   the class summary on the terminal
"""
