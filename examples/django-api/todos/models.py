from django.db import models


class Todo(models.Model):
    """A todo, owned by one Writ user: `owner` is the access token's `sub`."""

    owner = models.CharField(max_length=255, db_index=True)
    title = models.CharField(max_length=200)
    done = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title
