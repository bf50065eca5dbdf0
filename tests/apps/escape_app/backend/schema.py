from mainspring import Schema, Table


class Notes(Table):
    body: str


schema = Schema(notes=Notes)
