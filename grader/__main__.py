from grader.client import run

run()
