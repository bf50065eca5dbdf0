from mainspring import Schema, Table


class Counters(Table, indexes={"by_name": ["name"]}):
    name: str
    n: int


schema = Schema(counters=Counters)
