from django.apps import AppConfig


class PlmConfig(AppConfig):
    name = "plm"
    verbose_name = "Language-model workshop"
