from __future__ import annotations

from django.db import models

from catalog.models import trigram_index


class Note(models.Model):
    title = models.CharField(max_length=200)
    content = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "note"
        verbose_name_plural = "notes"
        indexes = [
            # Newest first, with the id that makes the order total (Django
            # appends it to the admin's ordering).
            models.Index(fields=["-created_at", "-id"], name="notes_note_created"),
            trigram_index("title", "notes_note_title_trgm"),
        ]

    def __str__(self) -> str:
        return self.title
