from kubedefis.diagram.cli import main

raise SystemExit(main())
