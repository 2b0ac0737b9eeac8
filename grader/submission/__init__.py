"""Reading a submission: finding its code and staging a private copy, executing nothing.

stage.py      a submission (folder, .py, notebook, .zip) to a staged copy of its code
files.py      which files count (the skip rule), walking and copying them with caps
budget.py     the deadline for reading a submission, and the message when it passes
archive.py    unpacking a zip, every member checked first
notebook.py   reading a notebook into its code cells, each way it can fail named
extract.py    a notebook's definitions as a module, without running anything
python2.py    recognising Python 2 code, and what to write instead
"""
