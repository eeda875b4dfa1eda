"""The ceiling: the cheapest authenticated JSON answer the API stack can give.

Same middleware, same DRF authentication (cached Basic), permission and renderer as
every resource, and no work of its own: every scenario's throughput is reported as a
ratio to this one, measured in the same run.
"""

from rest_framework.response import Response
from rest_framework.views import APIView


class CeilingView(APIView):
    def get(self, request):
        return Response({"ceiling": {"user": request.user.name}})
