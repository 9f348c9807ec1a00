"""The HTTP gateway in front of Triton (`tts-gateway`, installed with the thin client's
``[gateway]`` extra): upstream Bert-VITS2's ``/voice`` API (`upstream`, `models`), OpenAI's
speech API (`openai_speech`), long-form jobs (`jobs`), a playground page (`playground`,
``static/``) and VOICEVOX's engine API (`voicevox`), over one `Backend` (`backend`).
`app.create_app` assembles them; `cli` is the command.

Imports the thin client and the wire contract, never the exporter or the server side: adding
a voice (`models`) runs the full project's `tts-export` as a separate process (`exporter`).
The one exception is the Japanese frontend's user-dictionary compiler (`vits2.text.openjtalk`),
imported inside the routes that compile one; without the full project they answer 501.
"""
