"""django-import-export's `export` command, with CSV streamed by COPY.

`manage.py export CSV catalog.resources.BookResource > books.csv` writes
page by page in bounded memory (console/bulk/export.py), from the primary;
other formats go to the library's command, which builds the file in memory.
"""

from __future__ import annotations

from django.utils.module_loading import import_string
from import_export.management.commands import export as library

from console.bulk import export
from dbops.routing import PRIMARY


class Command(library.Command):
    help = library.Command.help

    def handle(self, *args, **options):
        fmt = options["format"].rsplit(".", 1)[-1].upper()
        try:
            resource_class = import_string(options["resource"])
        except ImportError:
            resource_class = None
        if fmt != "CSV" or not hasattr(resource_class, "stream_columns"):
            return super().handle(*args, **options)
        resource = resource_class()
        queryset = resource.filter_export(resource.get_queryset()).using(PRIMARY)
        out = self.stdout._out
        binary = getattr(out, "buffer", None)  # bytes as PostgreSQL wrote them
        for chunk in export.stream_csv(
            queryset=queryset, columns=resource.stream_columns()
        ):
            if binary is not None:
                binary.write(chunk)
            else:
                out.write(chunk.decode())
        out.flush()
