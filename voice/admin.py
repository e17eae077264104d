from django.contrib import admin

from .models import VoiceProfile


@admin.register(VoiceProfile)
class VoiceProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "has_pin", "pin_set_at"]
    search_fields = ["user__username"]
    readonly_fields = ["pin_set_at"]
    exclude = ["pin_hash"]
