"""The local twin: the whole pipeline on one machine.

moto as AWS, a local SageMaker that really trains and serves, and a local API front.
"""
