"""The event stream: an in-process bus (:mod:`.bus`) served over ``/ws`` (:mod:`.router`)."""
