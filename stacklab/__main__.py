from stacklab.cli import main

raise SystemExit(main())
